"""The one generator output structure and interface: fields, sampling, ONNX export and the torch-free runtime names."""

import copy
import pickle

import numpy as np
import pytest
import torch

import gen3d.models  # noqa: F401 - registers the GAN modules
from gen3d.models.gans.generator_output import MAP_FIELDS, OUTPUT_FIELDS, GeneratorOutput, check_generator
from gen3d.models.gans.sampling import class_onehot, cycle_classes, generate, generate_outputs, seed_latents
from gen3d.registry import MODELS
from tests.helpers.gan import ToyDepthGenerator


def test_fields_present_absent_and_copies():
    img, depth = torch.zeros(2, 3, 4, 4), torch.ones(2, 1, 4, 4)
    out = GeneratorOutput(img, depth=depth, features={"b4": torch.zeros(2, 8, 4, 4)})
    assert list(out) == ["image", "depth", "features"] and out.image is img and out.depth is depth
    assert out.normal is None and "mask" not in out
    assert list(out.maps()) == ["image", "depth"]  # features are not a map
    with pytest.raises(AttributeError, match="no field 'shape'"):
        _ = out.shape
    for clone in (copy.deepcopy(out), pickle.loads(pickle.dumps(out))):
        assert isinstance(clone, GeneratorOutput) and torch.equal(clone.depth, depth) and clone.mask is None
    assert OUTPUT_FIELDS[:4] == MAP_FIELDS


def test_runtime_output_names_match_the_structure():
    from gen3d.runtime.generation import GENERATOR_OUTPUTS

    assert GENERATOR_OUTPUTS == MAP_FIELDS


def test_stylegan2_generator_implements_the_interface():
    gen = MODELS.build(dict(type="StyleGAN2Generator", resolution=8, z_dim=8, w_dim=8, c_dim=2, mapping_layers=1,
                            channel_base=32, channel_max=8))
    assert check_generator(gen) is gen
    assert (gen.z_dim, gen.c_dim, gen.pose_dim, gen.img_resolution, gen.img_channels) == (8, 2, 0, 8, 3)
    out = gen(torch.randn(2, 8), torch.eye(2), noise_mode="const")
    assert isinstance(out, GeneratorOutput) and list(out) == ["image"] and out.image.shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match="pose"):
        gen(torch.randn(2, 8), torch.eye(2), torch.zeros(2, 3))
    psi = torch.tensor([0.5])  # a tensor psi (graph input) truncates like the float
    assert torch.allclose(gen(torch.ones(1, 8), torch.eye(2)[:1], truncation_psi=psi, noise_mode="const").image,
                          gen(torch.ones(1, 8), torch.eye(2)[:1], truncation_psi=0.5, noise_mode="const").image)
    with pytest.raises(TypeError, match="generator interface"):
        check_generator(torch.nn.Linear(2, 2))


def test_sampling_keeps_every_map():
    torch.manual_seed(0)
    gen = ToyDepthGenerator(z_dim=4, img_resolution=8)
    z = seed_latents(range(5), 4)
    assert torch.equal(z, seed_latents(range(5), 4)) and z.shape == (5, 4)
    out = generate_outputs(gen, z, batch_size=2)
    assert list(out) == ["image", "depth"] and out.depth.shape == (5, 1, 8, 8)
    images = generate(gen, z, batch_size=3)
    assert images.dtype == torch.uint8 and images.shape == (5, 3, 8, 8)
    assert torch.equal(images, ((out.image * 127.5 + 128).clamp(0, 255)).to(torch.uint8))
    assert class_onehot(0, None, 3) is None and class_onehot(3, 1, 2).argmax(1).tolist() == [1, 1]
    assert cycle_classes(3, 4).argmax(1).tolist() == [0, 1, 2, 0] and cycle_classes(0, 4) is None


def test_exported_graph_outputs_every_map(tmp_path):
    """The ONNX wrapper exports what the interface returns: image (uint8 NHWC) and depth, named by field."""
    ort = pytest.importorskip("onnxruntime")
    from gen3d.deploy.gan_wrapper import GeneratorEnd2End, example_feeds, reference_images
    from gen3d.deploy.onnx_export import export_onnx

    torch.manual_seed(0)
    gen = ToyDepthGenerator(z_dim=4, img_resolution=8, c_dim=2).eval()
    gen.w_avg.normal_()
    wrapper = GeneratorEnd2End(gen, "uint8").eval()
    feeds = example_feeds(gen, 3, 0.7)
    args = tuple(torch.from_numpy(feeds[n]) for n in wrapper.input_names)
    names = wrapper.output_names(args)
    assert wrapper.input_names == ("z", "c", "truncation_psi") and names == ("image", "depth")
    path = export_onnx(wrapper, args, str(tmp_path / "g.onnx"), wrapper.input_names, names,
                       {n: {0: "batch"} for n in ("z", "c", *names)})
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    image, depth = sess.run(list(names), feeds)
    assert image.dtype == np.uint8 and image.shape == (3, 8, 8, 3) and depth.shape == (3, 1, 8, 8)
    assert np.abs(image.astype(int) - reference_images(gen, feeds, "uint8").astype(int)).max() <= 1
    with torch.no_grad():
        ref_depth = gen(*(torch.from_numpy(feeds[k]) for k in ("z", "c")), truncation_psi=0.7).depth.numpy()
    assert np.allclose(depth, ref_depth, atol=1e-5)
