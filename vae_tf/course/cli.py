"""Course tooling: Colab badges and install cells, the student edition, and the course website.

Run from the repository root:

* ``python -m vae_tf.course sync [--ref REF]``: rewrite every notebook's Colab badge (first
  markdown cell) and install block (first code cell) from ``[project.urls] Repository`` and
  ``version`` in ``pyproject.toml``, the one place that says where the repository lives
  (:mod:`vae_tf.course.sync`).
* ``python -m vae_tf.course run NOTEBOOK ...``: re-run notebooks in full mode and store them with
  their outputs (TensorFlow's start-up logs removed; :mod:`vae_tf.course.execution`).
* ``python -m vae_tf.course ship-02 notebooks/artifacts/vae_2d_mlp.keras``: ship the 2-D VAE a
  full run of notebook 02 saved, for notebook 03 (:mod:`vae_tf.course.models`).
* ``python -m vae_tf.course student [OUT_DIR]``: the student edition (solutions removed;
  :mod:`vae_tf.course.student`): by default the committed copy in ``notebooks/student``.
* ``python -m vae_tf.course site OUT_DIR``: the static website (MkDocs Material + mkdocs-jupyter),
  built from the stored notebooks without re-executing them (:mod:`vae_tf.course.website`).

Exit status 0, or 1 with one ``error: ...`` line on stderr when a notebook or file is not as the
tools need it (``ValueError``) or cannot be read or written (``OSError``).
"""

from __future__ import annotations

import argparse
import sys

from .project import COURSE_BRANCH


def _parser() -> argparse.ArgumentParser:
    """The options of ``python -m vae_tf.course``: one subcommand each for sync, student, site, run, ship-02."""
    parser = argparse.ArgumentParser(prog="python -m vae_tf.course", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_sync = sub.add_parser("sync", help="rewrite badges and install cells from pyproject.toml")
    p_sync.add_argument("--ref", help=f"git ref the install cells install (default {COURSE_BRANCH}; 'commit' = HEAD's commit)")
    sub.add_parser("student", help="write the student edition (default: the committed one, notebooks/student)").add_argument(
        "out_dir", nargs="?", default=None, help="a folder for a copy with the stored outputs (default: notebooks/student, no outputs)")
    sub.add_parser("site", help="build the website").add_argument("out_dir")
    p_run = sub.add_parser("run", help="re-run notebooks in full mode and store them with their outputs")
    p_run.add_argument("notebooks", nargs="+", help="notebook paths (one or two at a time on 2 CPU cores)")
    p_ship = sub.add_parser("ship-02", help="ship notebook 02's trained model (for notebook 03) from a full run's file")
    p_ship.add_argument("saved", help="the file notebook 02 saved, e.g. notebooks/artifacts/vae_2d_mlp.keras")
    return parser


def _dispatch(args: argparse.Namespace) -> None:
    """Run the subcommand ``args.command``, printing what it did; each imports only what it needs."""
    if args.command == "sync":
        from .sync import sync

        done = sync(ref=args.ref)
        print(f"updated {len(done)} notebook(s) from pyproject.toml: {', '.join(p.name for p in done) or 'none needed'}")
    elif args.command == "run":
        from .execution import execute_notebook

        for path in args.notebooks:
            print(f"running {path} (full mode) ...", flush=True)
            print(f"stored {path}: {execute_notebook(path) / 60:.1f} min", flush=True)
    elif args.command == "ship-02":
        from .models import NOTEBOOK02_WEIGHTS, ship_notebook02_vae

        record = ship_notebook02_vae(args.saved)
        print(f"shipped {NOTEBOOK02_WEIGHTS}: test -ELBO {record['test_neg_elbo']:.2f} nats (seed {record['record_seed']})")
    elif args.command == "student":
        from .student import write_student_edition

        done = write_student_edition(args.out_dir)
        print(f"student edition: {len(done)} notebooks in {done[0].parent if done else args.out_dir}")
    else:
        from .website import build_site

        print(f"website: open {build_site(args.out_dir) / 'index.html'} (or serve the folder)")


def main(argv: list[str] | None = None) -> int:
    """``python -m vae_tf.course {sync,run,ship-02,student,site} ...``; returns the exit status
    (0, or 1 after one ``error:`` line on stderr). ``argv``: the arguments (default: the
    command line's); bad options exit 2 through argparse."""
    args = _parser().parse_args(argv)
    try:
        _dispatch(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
