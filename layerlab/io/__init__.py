"""layerlab.io."""
