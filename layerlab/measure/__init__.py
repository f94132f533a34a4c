"""layerlab.measure."""
