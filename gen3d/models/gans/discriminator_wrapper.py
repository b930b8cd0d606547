"""The base of discriminator wrappers that a GAN config key puts around a discriminator (DynamicD, GeoD)."""

from torch import nn


class DiscriminatorWrapper(nn.Module):
    """An ``nn.Module`` holding the wrapped discriminator as ``self.module`` and passing unknown attributes to it.

    Attributes the model reads off its discriminator (``c_dim``, ``resolution``, ``set_progress``, ...) keep working
    through any number of wrappers.
    """

    def __getattr__(self, name: str):  # noqa: ANN204 - attribute passthrough
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module" or "_modules" not in self.__dict__:
                raise
            return getattr(self._modules["module"], name)
