"""An explorer page for a trained generator, served on this machine.

    python -m gan_jax.tools.explore --workdir W [--checkpoint STEP|best] [--port 8000]
    python -m gan_jax.tools.explore --generator g.safetensors [--host 127.0.0.1] [--port 0]

Open the printed address in a browser: one page moves through the generator by seed,
class, ψ and noise mode, mixes the styles of two seeds by layer range (StyleGAN2), and
draws an interpolation strip. Each image is rendered on request, on the CPU or
accelerator JAX finds; the first is rendered before the address is printed, so the
programs are compiled by then.

**Who can reach it.** The server listens on 127.0.0.1 (this machine only) unless
``--host`` says otherwise; another host is served with a warning, as anyone who can
reach it can use the generator. ``--port 0`` takes any free port.

**The HTTP API** (GET; what the page uses, and what scripts may use):

- ``/``: the page. Its address keeps the view (``/?seed=5&psi=0.7&mix=1&mix_seed=9``), to
  share or to reopen.
- ``/api/info``: JSON: architecture, resolution, channels, num_classes, num_ws (StyleGAN2,
  else 0), noise_modes, step, source.
- ``/api/image?seed=S[&class=C][&psi=P][&noise_mode=const|none][&mix_seed=T&mix_from=A&mix_to=B][&scale=N]``:
  PNG of one image; the header ``X-Render-Ms`` says how long it took (not counting the wait
  for a request before it: requests render one at a time).
- ``/api/strip?seed=S&to=T[&frames=F]...``: PNG of the interpolation strip.

`gan_jax.run.explorer` says exactly what each image is. A bad request is answered with
status 400 and ``{"error": "..."}``; an unknown path with 404.
"""

import http.server
import ipaddress
import json
import os
import signal
import threading
import time
import urllib.parse

from absl import flags

from gan_jax.errors import ConfigError
from gan_jax.run import explorer, seed_sampling, writers
from gan_jax.tools import cli

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "explore.html")


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "The run whose EMA generator to explore.")
    flags.DEFINE_string("checkpoint", None, "Checkpoint step, or 'best' (default: the latest).")
    flags.DEFINE_string("generator", None, "An exported generator file, in place of --workdir.")
    flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (default: this machine only).")
    flags.DEFINE_integer("port", 8000, "Port to listen on; 0 takes any free port.")


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers GET requests for the page and the API of ``self.server.app``."""

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        routes = {
            "/": self._page,
            "/api/info": self._info,
            "/api/image": self._image,
            "/api/strip": self._strip,
        }
        route = routes.get(url.path)
        if route is None:
            return self._json(404, {"error": f"no such path {url.path!r}; the page is at /"})
        try:
            route(query)
        except ConfigError as e:
            self._json(400, {"error": str(e)})

    def _page(self, query):
        with open(PAGE, "rb") as f:
            self._send(200, "text/html; charset=utf-8", f.read())

    def _info(self, query):
        self._json(200, self.server.app["info"])

    def _render(self, render, query):
        request = explorer.parse_query(query)
        with self.server.app["lock"]:
            start = time.perf_counter()
            png = render(self.server.app["gen"], request)
            ms = (time.perf_counter() - start) * 1000
        self._send(200, "image/png", png, {"X-Render-Ms": f"{ms:.0f}"})

    def _image(self, query):
        self._render(explorer.image_png, query)

    def _strip(self, query):
        self._render(explorer.strip_png, query)

    def _json(self, status: int, body: dict):
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: int, kind: str, body: bytes, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # one line per request in absl's log, not stderr
        writers.log(f"{self.address_string()} {format % args}")


def make_server(gen, source: str, host: str = "127.0.0.1", port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server (not yet serving) for ``gen``; ``port`` 0 takes a free one
    (``server.server_address`` says which). Requests render one at a time."""
    try:
        server = http.server.ThreadingHTTPServer((host, port), _Handler)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    server.daemon_threads = True
    server.app = {"gen": gen, "lock": threading.Lock(), "info": explorer.info(gen, source)}
    return server


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(server) -> None:
    """Serves until Ctrl-C or SIGTERM, then closes the socket."""
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv) -> None:
    writers.quiet_library_logs()
    f = flags.FLAGS
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}")
    if not 0 <= f.port <= 65535:
        cli.fail(f"--port={f.port} must be 0 to 65535")
    gen = seed_sampling.open_generator(f.workdir, f.generator, f.checkpoint, batch_size=1)
    source = f.generator or f"{f.workdir} step {gen.step}"
    server = make_server(gen, source, f.host, f.port)
    start = time.perf_counter()
    explorer.image_png(gen, explorer.Request())  # compiles the programs before the first visit
    explorer.strip_png(gen, explorer.Request(to=1))
    if gen.config.model.architecture == "stylegan2":
        explorer.image_png(gen, explorer.Request(mix_seed=1))
    host, port = server.server_address[:2]
    if not _is_loopback(host):
        print(f"warning: listening on {host}: anyone who can reach this address can use the generator")
    seconds = time.perf_counter() - start
    print(
        f"serving {source} at http://{host}:{port}/ (first image {seconds:.1f} s; Ctrl-C stops)", flush=True
    )
    serve(server)


def console_main() -> None:
    """The ``gan-jax-explore`` console script."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
