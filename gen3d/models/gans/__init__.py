"""gen3d.models.gans."""
