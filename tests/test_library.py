"""hybrid_jax as a library: light imports, the family/network registries (in process and through
package entry points), stability bounds checked at load time, the public API, a family defined
outside the package (examples/fisher_kpp.py) from Python and from the CLI, and load_run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hybrid_jax as hj
from hybrid_jax.config import ConfigError, PhysicsConfig, config_from_dict, from_dict, load_plugins

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fisher_kpp.py"


def _python(code: str, env_extra: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env.update({"JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT), **(env_extra or {})})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_import_and_config_loading_start_neither_phiflow_nor_xla():
    r = _python("""
        import sys
        import hybrid_jax, hybrid_jax.config
        assert not [m for m in sys.modules if m == 'phi' or m.startswith('phi.')], 'PhiFlow imported'
        hybrid_jax.load_config('configs/smoke.yaml')  # resolves the family (imports its module)
        from jax._src import xla_bridge
        assert not xla_bridge._backends, 'an XLA backend started'
        assert not [m for m in sys.modules if m.startswith('phi.jax')], 'PhiFlow JAX backend imported'
        hybrid_jax.setup()
        assert xla_bridge._backends and 'phi.jax' in sys.modules
        print('ok')
    """)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


# ----------------------------------------------------------------------------- stability at load time


@pytest.mark.parametrize("name, section, bound_of", [
    ("burgers", {"viscosity": {"true": 10.0}}, lambda pde: pde.viscosity_bound),
    ("burgers", {"viscosity": {"true": 0.04, "bump": 2.0}}, lambda pde: pde.viscosity_bound),  # peak 0.12
    ("advection_diffusion", {"diffusivity": {"true": 10.0}}, lambda pde: pde.diffusivity_bound),
    ("gray_scott", {"diffusivity_v": {"true": 10.0}}, None),
    ("smoke", {"viscosity": {"true": 10.0}}, lambda pde: pde.viscosity_bound),
])
def test_every_family_refuses_an_unstable_true_coefficient_at_load_time(name, section, bound_of):
    key = next(iter(section))
    with pytest.raises(ConfigError, match=rf"^physics\.{key}\.true: must be <= the explicit stability bound"):
        config_from_dict({"physics": {"name": name, **section}})
    if bound_of is not None:  # the bound that refused the config is the one `constrain` clips learned values to
        learn = {"viscosity": {"learnable": True}} if name == "smoke" else {}
        cfg = config_from_dict({"physics": {"name": name, **learn}})
        pde = hj.build_pde(cfg.physics)
        assert bound_of(pde) == cfg.physics.diffusion_bound()
        big = {k: jnp.float32(1e3) for k in pde.init_params()}
        assert float(pde.constrain(big)[key]) == pytest.approx(cfg.physics.diffusion_bound(), rel=1e-6)


def test_gray_scott_config_and_constrain_share_the_decay_bounds():
    cfg = config_from_dict({"physics": {"name": "gray_scott"}}).physics
    bound_u, bound_v = cfg.diffusivity_bounds(cfg.feed.true, cfg.kill.true)
    with pytest.raises(ConfigError, match="physics.diffusivity_u.true"):
        config_from_dict({"physics": {"name": "gray_scott", "diffusivity_u": {"true": bound_u * 1.01}}})
    pde = hj.build_pde(cfg)
    out = pde.constrain({"diffusivity_u": jnp.float32(1e3), "diffusivity_v": jnp.float32(1e3)})
    np.testing.assert_allclose([out["diffusivity_u"], out["diffusivity_v"]], [bound_u, bound_v], rtol=1e-6)


# ----------------------------------------------------------------------------- registries


def test_register_family_in_process_and_refuse_malformed_entries():
    load_plugins((str(EXAMPLE),))
    cfg = config_from_dict({"physics": {"name": "fisher_kpp", "resolution": [16], "domain": [1.0]}})
    assert cfg.physics.name == "fisher_kpp" and cfg.physics.diffusivity.true == 0.002
    pde = hj.build_pde(cfg.physics)
    x = pde.sample_initial_state(jax.random.key(0), 2)
    assert x.shape == (2, 16, 1) and x.dtype == jnp.float32
    assert set(pde.positive_params) == {"diffusivity", "rate"}
    with pytest.raises(ConfigError, match=r"^physics.name: must be one of burgers, .*fisher_kpp"):
        config_from_dict({"physics": {"name": "fisher"}})
    with pytest.raises(ConfigError, match=r"^physics.rate.true: must be > 0"):
        config_from_dict({"physics": {"name": "fisher_kpp", "rate": {"true": -1.0}}})
    family = hj.physics.families.get("fisher_kpp")
    with pytest.raises(ValueError, match="name"):
        hj.register_family(family, name="other")  # the config's `name` default must match
    with pytest.raises(TypeError, match="expected a hybrid_jax.Family"):
        hj.register_family(object(), name="thing")
    with pytest.raises(ConfigError, match=r"^plugins\[0\]: cannot import 'no_such_module_xyz'"):
        config_from_dict({"plugins": ["no_such_module_xyz"]})


def test_register_network_in_process():
    import dataclasses

    from flax import nnx

    from hybrid_jax.networks import ConvNetConfig

    calls = []

    @dataclasses.dataclass(frozen=True)
    class TinyConfig(hj.NetworkBase):
        architecture: str = "tiny_test_net"

    def tiny(net_cfg, *, in_channels, out_channels, ndim, periodic, rngs):
        calls.append((in_channels, out_channels, ndim, periodic))
        return hj.build_network(ConvNetConfig(layers=1, filters=2), in_channels=in_channels,
                                out_channels=out_channels, ndim=ndim, periodic=periodic, rngs=rngs)

    hj.register_network(hj.Network("tiny_test_net", TinyConfig, tiny))
    cfg = config_from_dict({"network": {"architecture": "tiny_test_net"}})
    net = hj.build_network(cfg.network, in_channels=2, out_channels=1, ndim=1, periodic=True, rngs=nnx.Rngs(0))
    assert net(jnp.ones((3, 8, 2), jnp.float32)).shape == (3, 8, 1) and calls == [(2, 1, 1, True)]
    with pytest.raises(ConfigError, match=r"^network.architecture: must be one of unet, convnet"):
        config_from_dict({"network": {"architecture": "resnet50"}})


def test_installed_package_adds_a_family_and_a_network_through_entry_points(tmp_path):
    """A distribution on sys.path whose entry points name a family and a network is picked up
    by the config (no register call, nothing in hybrid_jax changed)."""
    site = tmp_path / "site"
    (site / "toyplugin-0.1.dist-info").mkdir(parents=True)
    (site / "toyplugin-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplugin\nVersion: 0.1\n")
    (site / "toyplugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[hybrid_jax.families]\nfisher_kpp = toy_fisher:FAMILY\n\n[hybrid_jax.networks]\ntoy_net = toy_net:NETWORK\n")
    (site / "toy_fisher.py").write_text(EXAMPLE.read_text())
    (site / "toy_net.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass

        from hybrid_jax.networks.base import Network, NetworkBase
        from hybrid_jax.networks.convnet import ConvNet

        @dataclass(frozen=True)
        class ToyConfig(NetworkBase):
            architecture: str = "toy_net"

        def build(net_cfg, *, in_channels, out_channels, ndim, periodic, rngs):
            return ConvNet(in_channels, out_channels, ndim=ndim, filters=3, layers=1, periodic=periodic, rngs=rngs)

        NETWORK = Network("toy_net", ToyConfig, build)
    """))
    r = _python("""
        import sys
        from hybrid_jax.config import config_from_dict
        assert 'toy_fisher' not in sys.modules
        cfg = config_from_dict({"physics": {"name": "fisher_kpp", "resolution": [16], "domain": [1.0]},
                                "network": {"architecture": "toy_net"}})
        assert 'toy_fisher' in sys.modules and type(cfg.physics).__module__ == 'toy_fisher'
        import jax, jax.numpy as jnp
        from flax import nnx
        import hybrid_jax as hj
        pde = hj.build_pde(cfg.physics)
        x = pde.sample_initial_state(jax.random.key(0), 2)
        y = hj.simulate(pde, x, 3)
        net = hj.build_network(cfg.network, in_channels=1, out_channels=1, ndim=1, periodic=True, rngs=nnx.Rngs(0))
        print(y.shape, y.dtype, type(net).__name__, len(net.hidden), net(x).shape)
    """, {"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["(2,", "3,", "16,", "1)", "float32", "ConvNet", "1", "(2,", "16,", "1)"]


# ----------------------------------------------------------------------------- public API


def test_public_api_builds_steps_and_rolls_out_a_pde():
    cfg = hj.load_config(None, ["physics.resolution=[16]", "physics.domain=[1.0]"])
    pde = hj.build_pde(cfg.physics)
    x0 = pde.sample_initial_state(jax.random.key(1), 2)
    traj = hj.simulate(pde, x0, 4)
    assert traj.shape == (2, 4, 16, 1) and traj.dtype == jnp.float32
    one = jax.jit(pde.step)(x0[0], pde.true_params())
    np.testing.assert_allclose(traj[0, 0], one, rtol=1e-5, atol=1e-6)
    assert set(hj.__all__) >= {"load_config", "run_experiment", "load_run", "simulate", "build_pde",
                               "register_family", "register_network", "setup", "Family", "coefficient"}


def _fisher_overrides(tmp_path) -> list[str]:
    return [f"output.dir={tmp_path / 'runs'}", f"data.store_dir={tmp_path / 'data'}"]


def test_fisher_kpp_example_trains_hybrid_from_python_and_recovers_its_coefficients(tmp_path):
    """The family outside the package, trained from Python; run_experiment's result, summary.json
    and load_run agree; load_run's callables roll both models out from new initial states."""
    result = hj.run_experiment(ROOT / "examples" / "fisher_kpp.yaml", overrides=tuple(_fisher_overrides(tmp_path)))
    assert result.config.physics.name == "fisher_kpp" and result.run_dir == tmp_path / "runs" / "fisher_kpp"
    assert {"config", "metrics", "summary", "checkpoints"} <= set(result.paths)
    loaded = hj.load_run(result.run_dir)
    assert loaded.config == result.config
    for name, true in {"diffusivity": 0.002, "rate": 2.0}.items():
        learned = float(result.learned[name])
        print(f"{name}: learned {learned:.5g} true {true}")
        assert abs(learned - true) / true < 0.1  # from an initial guess half the true value
        assert float(loaded.params[name]) == learned == pytest.approx(result.summary["parameters"]["learned"][name])
    x0 = loaded.pde.sample_initial_state(jax.random.key(7), 3)
    phys = loaded.physical(x0, 5)
    np.testing.assert_allclose(phys, hj.simulate(loaded.pde, x0, 5, loaded.params), rtol=1e-5, atol=1e-6)
    syn = loaded.synthetic(x0, 5)
    assert syn.shape == phys.shape == (3, 5, 64, 1) and syn.dtype == jnp.float32
    # the trained network tracks the PDE over a short horizon (relative L2 error of the first step)
    err = float(jnp.linalg.norm(syn[:, 0] - phys[:, 0]) / jnp.linalg.norm(phys[:, 0]))
    assert err < 0.5, err


def test_fisher_kpp_example_runs_from_the_cli(tmp_path):
    r = subprocess.run([sys.executable, "-m", "hybrid_jax.train", "--config", "examples/fisher_kpp.yaml",
                        *_fisher_overrides(tmp_path), "physics.resolution=[32]", "data.num_frames=8",
                        "trainer.hybrid.cycles=1", "trainer.hybrid.warmup_epochs=0", "trainer.physical.optimizer=adam",
                        "trainer.physical.batching=per_batch", "trainer.physical.epochs=1",
                        "trainer.synthetic.epochs=1"],
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "diffusivity: learned" in r.stdout and "rate: learned" in r.stdout
    assert (tmp_path / "runs" / "fisher_kpp" / "summary.json").is_file()


def test_from_dict_resolves_the_tagged_physics_union():
    for name in ("burgers", "advection_diffusion", "burgers_potential", "gray_scott", "smoke"):
        cfg = from_dict(PhysicsConfig, {"name": name}, "physics")
        assert cfg.name == name and isinstance(cfg, PhysicsConfig)
        assert hj.physics.families.get(name).config is type(cfg)
