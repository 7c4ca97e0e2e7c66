"""Install the k2 build made for the running CPython: ``python tools/install_k2_wheel.py 1.23.4``.

k2 1.23.4's wheels are named ``k2-1.23.4-py3.X-none-any.whl``. pip reads the compressed tag
``py3.X`` as the tag set ``{py3, X}``, so every build looks compatible with every Python 3 and a
plain ``pip install k2==1.23.4`` may pick the CPython 3.9 build (``ModuleNotFoundError: _k2``). This
helper asks pip's own package finder, configured as ``pip download`` is (the user's index and
find-links settings), for the candidates of that version, picks the one whose file name says
``py<major>.<minor>`` of this interpreter, and installs it with its dependencies. Nothing here
names an index: the location comes from pip's resolution.

Run it with the Python of the environment that should get k2 (the k2 environment's). The finder
is pip's internal API (``pip._internal``, what ``pip index`` and ``pip download`` use); it was
checked with the pip that CPython 3.10's venv brings (23.0).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata

from pip._internal.commands import create_command


def candidate_links(name: str, version: str) -> dict[str, str]:
    """Wheel file name -> link for every candidate of ``name==version`` that pip's finder sees."""
    command = create_command("download")
    options, _ = command.parse_args([])
    with command.main_context():
        session = command._build_session(options)
        finder = command._build_package_finder(options=options, session=session)
        return {
            c.link.filename: c.link.url
            for c in finder.find_all_candidates(name)
            if str(c.version) == version and c.link.is_wheel
        }


def pick_for_interpreter(filenames: list[str], version_info: tuple[int, int]) -> str | None:
    """The wheel whose python tag is ``py<major>.<minor>`` (``k2-1.23.4-py3.10-none-any.whl``).

    Example::

        >>> pick_for_interpreter(["k2-1.23.4-py3.9-none-any.whl",
        ...                       "k2-1.23.4-py3.10-none-any.whl"], (3, 10))
        'k2-1.23.4-py3.10-none-any.whl'
    """
    wanted = f"py{version_info[0]}.{version_info[1]}"
    matches = [f for f in filenames if f.split("-")[2] == wanted]
    return matches[0] if matches else None


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def imports(name: str) -> bool:
    """Whether ``import name`` works in a fresh interpreter (the wrong build fails on ``_k2``)."""
    probe = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True)
    return probe.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help="k2 version, e.g. 1.23.4")
    parser.add_argument("--name", default="k2", help="distribution name (default: k2)")
    args = parser.parse_args(argv)

    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    current = installed_version(args.name)
    if current == args.version and imports(args.name):
        print(f"{args.name} {args.version} already installed and importable")
        return 0
    if current is not None:
        print(f"removing {args.name} {current} (wrong version or a build for another Python)")
        subprocess.run([*pip, "uninstall", "-y", args.name], check=True)
    links = candidate_links(args.name, args.version)
    chosen = pick_for_interpreter(sorted(links), sys.version_info[:2])
    if chosen is None:
        print(
            f"no {args.name}=={args.version} wheel for Python "
            f"{sys.version_info[0]}.{sys.version_info[1]} among pip's candidates: "
            f"{', '.join(sorted(links)) or 'none'}",
            file=sys.stderr,
        )
        return 1
    print(f"installing {chosen}")
    return subprocess.run([*pip, "install", links[chosen]], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
