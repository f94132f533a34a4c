"""layerlab.mix."""
