"""gen3d.models.editing."""
