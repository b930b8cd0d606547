"""gen3d.runtime."""
