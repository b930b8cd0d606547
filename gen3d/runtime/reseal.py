"""``python -m gen3d.runtime.reseal BUNDLE [--check]``: verify a bundle, or re-seal one you edited on purpose.

A bundle's ``manifest.json`` carries the sha256 of every file it names and its own ``manifest_sha256``
(:mod:`gen3d.runtime.manifest`); the runtime refuses a bundle that does not match. After editing a bundle on
purpose (new thresholds, a renamed class, a re-built engine), re-seal it so that it loads verified again::

    python -m gen3d.runtime.reseal work_dirs/bundle            # re-hash the files and the manifest
    python -m gen3d.runtime.reseal work_dirs/bundle --check    # only say whether it verifies (exit 1 if not)

Files named outside the bundle folder are refused, here too.
"""

from __future__ import annotations

import argparse
import sys

from gen3d.runtime.manifest import ManifestError, read_manifest, reseal_bundle, verification_problems


def main(argv: list[str] | None = None) -> int:
    """Re-seal (or ``--check``) the bundles given; returns the exit status (errors are printed, not raised)."""
    parser = argparse.ArgumentParser(description="Verify or re-seal gen3d bundles (manifest and file hashes)")
    parser.add_argument("bundles", nargs="+", help="bundle folders (manifest.json + model.onnx ...)")
    parser.add_argument("--check", action="store_true", help="verify only; exit 1 when a bundle does not verify")
    args = parser.parse_args(argv)
    status = 0
    for bundle in args.bundles:
        try:
            if args.check:
                problems = verification_problems(bundle, read_manifest(bundle))
                print(f"{bundle}: " + ("verified" if not problems else "NOT verified: " + "; ".join(problems)))
                status = status or int(bool(problems))
            else:
                changed = reseal_bundle(bundle)
                print(f"{bundle}: " + (f"re-sealed ({', '.join(changed)} updated)" if changed
                                       else "already sealed, nothing changed"))
        except ManifestError as err:
            print(f"error: {err}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
