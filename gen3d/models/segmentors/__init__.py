"""gen3d.models.segmentors."""
