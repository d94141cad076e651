"""What every entry point shares: flag parsing and turning user errors into one line.

`run(main)` wraps `absl.app.run`: a `GanJaxError` raised anywhere (bad config field,
missing data, incompatible checkpoint), or a bad command-line flag, prints
``error: <what is wrong and how to fix it>`` on stderr and exits with status 2,
without a traceback.
"""

import difflib
import math
import importlib.util
import os
import sys
from typing import Callable

import ml_collections
from absl import app, flags

from gan_jax import config as config_lib
from gan_jax.errors import ConfigError, GanJaxError
from gan_jax.run import preemption

USAGE_ERROR = 2


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


def output_path(path: str) -> str:
    """``path``, once the directory it goes in exists; a `ConfigError` if it cannot be made."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the directory of {path!r}: {e.strerror}") from None
    return path


def _unknown_field(config, path: str) -> str | None:
    """A message naming the valid fields if ``path`` is not a field of ``config``."""
    node, walked = config, []
    for part in path.split("."):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            where = ".".join(walked)
            valid = (
                config_lib.field_names(node, f"{where}." if where else "")
                if isinstance(node, ml_collections.ConfigDict)
                else []
            )
            close = difflib.get_close_matches(path, config_lib.field_names(config), n=1)
            return (
                f"unknown config field {path!r}"
                + (f" ({where!r} has no field {part!r})" if where else "")
                + (f"; did you mean {close[0]!r}?" if close else "")
                + (f" Valid fields: {', '.join(valid)}" if valid else "")
            )
        node, walked = node[part], walked + [part]
    return None


def _config_file_arg(argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a[len("--config=") :]
    return None


def _load_config_file(spec: str):
    path, _, arg = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("_gan_jax_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()


def _describe_flag_error(argv: list[str], error: Exception) -> str:
    """Turns a config-override failure into a message that names the valid fields."""
    overrides = [a[len("--config.") :].split("=", 1)[0] for a in argv[1:] if a.startswith("--config.")]
    spec = _config_file_arg(argv)
    if overrides and spec and isinstance(error, (KeyError, AttributeError)):
        try:
            config = _load_config_file(spec)
        except Exception:  # the config file itself is broken: report the original error
            config = None
        for path in overrides if config is not None else []:
            message = _unknown_field(config, path)
            if message:
                return message
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(str(text).split())


def _config_load_error(argv: list[str], error: BaseException) -> str | None:
    """One line for a config file that cannot be loaded (a syntax error, an exception in
    ``get_config``, an argument it does not take), or None for other flag errors."""
    spec = _config_file_arg(argv) or ""
    text = str(error)
    if "Traceback" in text or not isinstance(
        error, (flags.Error, KeyError, AttributeError, ValueError, TypeError)
    ):
        last = [line.strip() for line in text.splitlines() if line.strip()]
        last = last[-1] if "Traceback" in text and last else f"{type(error).__name__}: {error}"
        if isinstance(error, SyntaxError):
            last = f"SyntaxError: {error.msg} (line {error.lineno})"
        path, _, arg = spec.partition(":")
        if arg and "positional argument" in last:
            return (
                f"the config file {path} takes no argument, but --config={spec} passes {arg!r}; drop ':{arg}'"
            )
        return f"cannot load the config file {path or spec}: {last}"
    return None


def shipped_configs_dir() -> str:
    """The folder of the configs shipped with gan_jax: ``gan_jax.configs`` when installed
    (the repository's ``configs/``), else ``configs/`` beside the package."""
    try:
        import gan_jax.configs as shipped

        for folder in getattr(shipped, "__path__", []):
            if os.path.isdir(folder):
                return folder
    except ImportError:
        pass
    return os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs"
    )


def resolve_config_spec(spec: str) -> str:
    """``--config`` as a path: a file that exists, or anything that looks like a path,
    stays as given; a bare name (``dcgan_fashion_mnist[:arg]``) becomes the shipped
    config's path. An unknown name is a one-line error listing the shipped ones."""
    path, sep, arg = spec.partition(":")
    if not path or os.path.exists(path) or os.sep in path or path.endswith(".py"):
        return spec
    folder = shipped_configs_dir()
    candidate = os.path.join(folder, path + ".py")
    if os.path.isfile(candidate):
        return candidate + sep + arg
    names = sorted(n[:-3] for n in os.listdir(folder) if n.endswith(".py")) if os.path.isdir(folder) else []
    fail(
        f"--config={spec!r} is neither a file nor a shipped config; shipped: "
        f"{', '.join(names) or 'none found'}"
    )
    return spec


def _with_config_path(argv: list[str]) -> list[str]:
    out = list(argv)
    for i, a in enumerate(out):
        if a == "--config" and i + 1 < len(out):
            out[i + 1] = resolve_config_spec(out[i + 1])
        elif a.startswith("--config="):
            out[i] = "--config=" + resolve_config_spec(a[len("--config=") :])
    return out


HELP_FLAGS = ("--help", "-help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")


def _parse_flags(argv: list[str]) -> list[str]:
    if "config" in flags.FLAGS:
        argv = _with_config_path(argv)
    try:
        rest = flags.FLAGS(argv)
    except SystemExit:  # absl's --help prints the usage, then exits 1: a request met is 0
        if any(a.split("=")[0] in HELP_FLAGS for a in argv[1:]):
            sys.exit(0)
        raise
    except Exception as e:  # noqa: BLE001 (a config file can raise anything while loading)
        fail(_config_load_error(argv, e) or _describe_flag_error(argv, e))
    _check_finite_numbers()
    return rest


def _check_finite_numbers() -> None:
    """Every float flag given on the command line must be a finite number (absl takes
    'nan', 'inf' and 1e400 as floats)."""
    for name in flags.FLAGS:
        flag = flags.FLAGS[name]
        value = flag.value
        if flag.present and isinstance(value, float) and not math.isfinite(value):
            fail(f"--{name}={value} must be a finite number")


def loaded_config(config) -> ml_collections.ConfigDict:
    """The parsed --config value; a config file that failed to load is a one-line error."""
    try:
        config.get("seed")  # config_flags loads lazily and reports a failed load on first use
    except OSError as e:
        lines = [l.strip() for l in str(e).splitlines() if l.strip()]
        fail(f"cannot load the config file: {lines[-1] if lines else e}")
    return config


OUT_OF_MEMORY = (
    "out of device memory: {what}. Lower batch_size (the global batch), or the "
    "resolution or model widths, or run on more devices"
)


def run(main: Callable[[list[str]], None]) -> None:
    def guarded(argv):
        try:
            main(argv)
        except GanJaxError as e:
            fail(" ".join(str(e).split()))
        except preemption.StopRequested as e:
            print(str(e), file=sys.stderr)
            sys.exit(0)
        except Exception as e:  # noqa: BLE001
            if "RESOURCE_EXHAUSTED" not in str(e):
                raise
            first = next((line for line in str(e).splitlines() if "RESOURCE_EXHAUSTED" in line), "")
            fail(OUT_OF_MEMORY.format(what=" ".join(first.split())[:300]))

    app.run(guarded, flags_parser=_parse_flags)
