"""gen3d.deploy."""
