"""`python -m gan_jax.tools.explore`: its HTTP API answers with the pixels `generate` gives
(StyleGAN2 with ψ, noise and style mixing; a conditional DCGAN), bad requests get 400 and
one line, the command serves on loopback and stops on SIGTERM; and, in a real browser
(headless Chromium, marked slow), the page renders, with a screenshot."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, load_config, tiny_stylegan2_config, untrained_generator, untrained_generator_file
from gan_jax.run import style_space, walks
from gan_jax.tools import explore
from gan_jax.training import sample


@pytest.fixture(scope="module")
def servers():
    dcgan = load_config("tiny")
    dcgan.model.num_classes = 4
    gens = {
        "stylegan2": untrained_generator(tiny_stylegan2_config(), batch_size=1),
        "dcgan": untrained_generator(dcgan, shift=0.0, batch_size=1),
    }
    running, servers = {}, []
    for name, gen in gens.items():
        server = explore.make_server(gen, name, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running[name] = (f"http://127.0.0.1:{server.server_address[1]}", gen)
        servers.append(server)
    yield running
    for server in servers:
        server.shutdown()
        server.server_close()


def _get(url: str):
    """(status, content type, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=120) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def _png(body: bytes) -> np.ndarray:
    image = np.asarray(Image.open(io.BytesIO(body)))
    return image[..., None] if image.ndim == 2 else image


def test_page_and_info(servers):
    url, gen = servers["stylegan2"]
    status, kind, body = _get(url + "/")
    assert status == 200 and kind.startswith("text/html") and b'fetch("/api/info")' in body
    status, kind, body = _get(url + "/api/info")
    info = json.loads(body)
    assert status == 200 and kind == "application/json"
    assert info["architecture"] == "stylegan2" and info["resolution"] == 16 and info["num_classes"] == 0
    assert info["num_ws"] == style_space.of(gen).num_ws and info["noise_modes"] == ["const", "none"]
    assert json.loads(_get(servers["dcgan"][0] + "/api/info")[2])["num_ws"] == 0


def test_stylegan_images_are_generates_pixels(servers):
    url, gen = servers["stylegan2"]
    cases = [
        ("seed=5", dict(seeds=[5])),
        ("seed=5&psi=0.5&noise_mode=none", dict(seeds=[5], psi=0.5, noise_mode="none")),
    ]
    for query, kwargs in cases:
        status, kind, body = _get(f"{url}/api/image?{query}")
        assert status == 200 and kind == "image/png"
        np.testing.assert_array_equal(_png(body), gen(**kwargs)[0])
    space = style_space.of(gen)
    top = space.num_ws - 1
    everything = _png(_get(f"{url}/api/image?seed=5&mix_seed=9&mix_from=0&mix_to={top}")[2])
    np.testing.assert_array_equal(everything, gen(seeds=[9])[0])  # every layer from seed 9
    coarse = _png(_get(f"{url}/api/image?seed=5&mix_seed=9&mix_from=0&mix_to=3")[2])
    expected = space.images(style_space.mix(space.seed_ws([5]), space.seed_ws([9]), range(4)))[0]
    np.testing.assert_array_equal(coarse, expected)
    big = _png(_get(f"{url}/api/image?seed=5&scale=3")[2])
    np.testing.assert_array_equal(big[::3, ::3], gen(seeds=[5])[0])


def test_conditional_dcgan_image_and_strip(servers):
    url, gen = servers["dcgan"]
    np.testing.assert_array_equal(
        _png(_get(f"{url}/api/image?seed=6&class=1")[2]), gen(seeds=[6], class_=1)[0]
    )
    strip = _png(_get(f"{url}/api/strip?seed=2&to=7&frames=4")[2])
    frames = walks.seed_walk(gen, [2, 7], 4)
    np.testing.assert_array_equal(strip, sample.make_grid(frames, rows=1))


@pytest.mark.parametrize(
    "path, message",
    [
        ("/api/image?seed=-1", "seed=-1 must be a seed"),
        ("/api/image?seed=x", "seed='x' must be an integer"),
        ("/api/image?seed=1&psi=nan", "psi='nan' must be a finite number"),
        ("/api/image?seed=1&psi=0.5", "psi, noise_mode and style mixing are for StyleGAN"),
        ("/api/image?seed=1&class=9", "class_=9 is out of range"),
        ("/api/image?colour=red", "unknown parameter 'colour'"),
        ("/api/strip?seed=1", "a strip needs to=SEED"),
        ("/api/strip?seed=1&to=2&frames=99", "frames must be 2 to 32"),
    ],
)
def test_bad_requests_are_400_with_one_line(servers, path, message):
    status, kind, body = _get(servers["dcgan"][0] + path)
    assert status == 400 and kind == "application/json"
    error = json.loads(body)["error"]
    assert message in error and "\n" not in error
    assert _get(servers["dcgan"][0] + "/nowhere")[0] == 404


def test_stylegan_bad_mixing_range(servers):
    status, _, body = _get(servers["stylegan2"][0] + "/api/image?seed=1&mix_seed=2&mix_from=3&mix_to=1")
    assert status == 400 and "mix_from <= mix_to" in json.loads(body)["error"]


def _start(args):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gan_jax.tools.explore", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    return process, line


def test_the_command_serves_on_loopback_and_stops_on_sigterm(tmp_path):
    path = untrained_generator_file(tiny_stylegan2_config(), str(tmp_path / "g.safetensors"))
    process, line = _start(["--generator", path, "--port", "0"])
    try:
        assert line.startswith(f"serving {path} at http://127.0.0.1:"), line + process.stderr.read()
        url = line.split(" at ")[1].split()[0].rstrip("/")
        assert json.loads(_get(url + "/api/info")[2])["source"] == path
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    refused = subprocess.run(
        [sys.executable, "-m", "gan_jax.tools.explore", "--generator", path, "--port", "70000"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "--port=70000 must be 0 to 65535" in refused.stderr


BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


@pytest.mark.slow  # make test-all (a browser start and a page's first renders)
def test_the_page_in_a_real_browser(tmp_path):
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.skip(
            "no headless Chromium (Debian: apt-get install chromium-headless-shell; make test-all installs it)"
        )
    path = untrained_generator_file(tiny_stylegan2_config(), str(tmp_path / "g.safetensors"))
    process, line = _start(["--generator", path, "--port", "0"])
    shot = tmp_path / "explorer.png"
    try:
        url = line.split(" at ")[1].split()[0]
        done = subprocess.run(
            [
                browser,
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=900,620",
                "--virtual-time-budget=20000",
                f"--screenshot={shot}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    screenshot = np.asarray(Image.open(shot).convert("RGB"))
    assert screenshot.shape[:2] == (620, 900)
    # the 320 x 320 image (drawn at 16 px, enlarged) sits on a black box; a rendered
    # generator image has more than black in it
    dark = screenshot.sum(-1) < 30
    assert dark.sum() > 10_000, "no image box on the page"
    assert len(np.unique(screenshot.reshape(-1, 3), axis=0)) > 50, "the page shows no generated image"
