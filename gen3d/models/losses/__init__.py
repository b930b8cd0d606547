"""gen3d.models.losses."""
