"""``spanbert-qa``: index documents, ask questions, evaluate, serve, fine-tune and pre-train.

Each command parses its arguments into settings, calls the library, and prints; errors a user can fix
(:class:`~spanbert_reader.app.errors.AppError`) are printed as one line with exit code 2.
"""

from __future__ import annotations

import logging
import os
import sys

from spanbert_reader.cli.parser import build_parser

EXIT_USAGE = 2

__all__ = ["EXIT_USAGE", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run one ``spanbert-qa`` command; returns the exit code."""
    from spanbert_reader.app.errors import AppError
    from spanbert_reader.cli.commands import COMMANDS, CLIError
    from spanbert_reader.extras import MissingExtra

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except CLIError as exc:
        print(f"spanbert-qa {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except (AppError, MissingExtra) as exc:
        print(f"spanbert-qa {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a file or device problem no layer above named: still one line, never a traceback
        if args.verbose:
            import traceback

            traceback.print_exc()
        where = f"{os.fsdecode(exc.filename)}: " if exc.filename else ""
        print(f"spanbert-qa {args.command}: error: {where}{exc.strerror or exc} (rerun with -v for details)",
              file=sys.stderr)
        return EXIT_USAGE
