"""gen3d.models.layers: blocks that more than one model family shares; a block of one family lives beside its models."""
