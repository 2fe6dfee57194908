"""``specnorm prepare --dataset NAME --root DIR [--source PATH] [--no-download | --download-only]``:
prepare one dataset and print its manifest, or (``--download-only``) only fetch its raw source (the
pipeline's download and prepare rules, docs/pipeline.md#downloads)."""

from __future__ import annotations

import argparse
import json
import sys

from specnorm.data.errors import DataError
from specnorm.data.preparation import fetch, prepare
from specnorm.catalog import DATASETS
from specnorm.data.store import read_manifest


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="specnorm prepare",
        description="Download (checksummed) and prepare a dataset into <root>/<name>/images.npy (uint8 NCHW) "
                    "plus manifest.json. Does nothing when a valid manifest already exists.",
        epilog="datasets: " + "; ".join(f"{k}: {v.description}" for k, v in DATASETS.items()),
    )
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="dataset name")
    p.add_argument("--root", required=True, help="folder holding one sub-folder per prepared dataset")
    p.add_argument("--source", default=None, help="local raw file or folder to use instead of downloading (md5-checked)")
    fetching = p.add_mutually_exclusive_group()
    fetching.add_argument("--no-download", dest="download", action="store_false", help="never touch the network")
    fetching.add_argument("--download-only", action="store_true",
                          help="only find or download (md5-checked) the raw source into <root>/<name>/raw/ and "
                               "record it in raw/source.json; decode nothing (the login-node half)")
    p.add_argument("--workers", type=int, default=None, help="JPEG decoding threads (default: min(8, CPUs))")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.download_only:
            record = fetch(args.dataset, args.root, source=args.source)
            print(record.read_text())
            return 0
        folder = prepare(args.dataset, args.root, download=args.download, source=args.source, workers=args.workers)
    except DataError as e:
        print(f"specnorm prepare: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(read_manifest(folder), indent=2))
    return 0
