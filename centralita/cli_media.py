"""``centralita prompt`` and ``centralita moh``: a tenant's own prompts and music on hold."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from centralita.media import uploads

DEFAULT_DATA_DIR = "var"


def add_commands(commands: Any) -> None:
    prompt = commands.add_parser("prompt", help="replace system prompts with a tenant's own")
    actions = prompt.add_subparsers(dest="action", required=True, metavar="ACTION")
    put = actions.add_parser("set", help="use FILE.wav as the tenant's prompt NAME")
    put.add_argument("tenant", metavar="TENANT")
    put.add_argument("name", metavar="NAME", help="e.g. welcome, leave_message, goodbye")
    put.add_argument("file", metavar="FILE.wav", type=Path)
    put.add_argument("--language", default="en", choices=("en", "es", "ru"))
    put.set_defaults(handler=_prompt_set)
    remove = actions.add_parser("remove", help="go back to the system prompt")
    remove.add_argument("tenant", metavar="TENANT")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--language", default="en", choices=("en", "es", "ru"))
    remove.set_defaults(handler=_prompt_remove)
    listing = actions.add_parser("list", help="the tenant's own prompts and music")
    listing.add_argument("tenant", metavar="TENANT")
    listing.set_defaults(handler=_list)
    moh = commands.add_parser("moh", help="music on hold tracks of a tenant")
    moh_actions = moh.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = moh_actions.add_parser("add", help="add FILE.wav to the tenant's music class")
    add.add_argument("tenant", metavar="TENANT")
    add.add_argument("file", metavar="FILE.wav", type=Path)
    add.add_argument("--class", dest="music_class", default="default", metavar="CLASS")
    add.set_defaults(handler=_moh_add)
    for parser in (put, remove, listing, add):
        parser.add_argument(
            "--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR), help="default: ./var"
        )


def _prompt_set(args: argparse.Namespace) -> int:
    path = uploads.store_prompt(args.data_dir, args.tenant, args.name, args.language, args.file)
    print(f"prompt {args.language}/{args.name} of {args.tenant} is now {path}")
    return 0


def _prompt_remove(args: argparse.Namespace) -> int:
    removed = uploads.remove_prompt(args.data_dir, args.tenant, args.name, args.language)
    what = "removed" if removed else "had no own"
    print(f"{args.tenant} {what} prompt {args.language}/{args.name}; the system prompt plays")
    return 0


def _moh_add(args: argparse.Namespace) -> int:
    path = uploads.store_music(args.data_dir, args.tenant, args.music_class, args.file)
    print(f"added {path.stem} to music class {args.music_class} of {args.tenant}")
    return 0


def _list(args: argparse.Namespace) -> int:
    for kind, what, path in uploads.list_uploads(args.data_dir, args.tenant):
        print(f"{kind:7} {what:30} {path}")
    return 0
