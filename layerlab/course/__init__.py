"""layerlab.course."""
