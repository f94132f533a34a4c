"""``layerlab variants``: a scene of their own for each learner of an assessed lab.

Examples::

    layerlab variants build lab2_hybrid_mix --course /srv/course --students ann,ben,cat
    layerlab variants build lab1_audit --course /srv/course            # every student in the gradebook
    layerlab variants publish lab1_audit --course /srv/course          # publish the built ones again (a new exchange)
    layerlab variants practice lab2_hybrid_mix                          # self-paced: a local practice variant

``build`` writes each learner's variant to the course folder (``variants/<lab>/<id>/public/``
and its truth ``variants/<lab>/<id>/truth.json``, the instructor's only; up-to-date variants
are skipped) and publishes the public one to nbgrader's exchange,
``<Exchange.root>/<course id>/layerlab-variants/<lab>/<id>/``, where only that learner's lab
loads it; nbgrader's release carries no variant. Documented in ``autograder/README.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from layerlab.course.variants import (ASSESSED, VariantError, build_practice, build_variants, exchange_settings,
                                      publish_variant)


def configure(parser: argparse.ArgumentParser) -> None:
    """Attach the ``variants`` subcommands to a parser."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build (or reuse) every learner's variant of a lab in a course and publish it to the exchange")
    b.add_argument("lab", choices=sorted(ASSESSED), help="the assessed lab")
    b.add_argument("--course", default=".", help="nbgrader course root (default: current folder)")
    b.add_argument("--students", help="comma-separated student ids (default: every student in the gradebook)")
    b.add_argument("--jobs", type=int, default=None, help="parallel builds (default: one per core)")
    b.add_argument("--force", action="store_true", help="rebuild even up-to-date variants")
    b.add_argument("--no-publish", action="store_true", help="build only; do not publish to nbgrader's exchange")
    u = sub.add_parser("publish", help="publish a lab's built variants to nbgrader's exchange (build does it too)")
    u.add_argument("lab", choices=sorted(ASSESSED), help="the assessed lab")
    u.add_argument("--course", default=".", help="nbgrader course root (default: current folder)")
    p = sub.add_parser("practice", help="make a practice variant in a lab folder (self-paced; its truth stays there)")
    p.add_argument("lab", choices=sorted(ASSESSED), help="the assessed lab")
    p.add_argument("--folder", default=".", help="the lab's folder (default: current folder)")


def _gradebook_students(course: Path) -> list[str]:
    from layerlab.grading.gradebook import course_db_url, gradebook_exists

    url = course_db_url(course)
    if not gradebook_exists(url):
        raise VariantError(f"{course}: no gradebook to list students from; pass --students ann,ben,... "
                           "or add them first (nbgrader db student add ID).")
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        return sorted(s.id for s in gb.students)


def run(args) -> int:
    if args.action == "practice":
        pub = build_practice(args.lab, args.folder)
        print(f"practice variant of {args.lab} written to {pub}; its truth is in {pub.parent / 'practice.truth.json'} "
              "(self-paced checking is on your honour)")
        return 0
    course = Path(args.course)
    if args.action == "publish":
        exchange = exchange_settings(course)
        built = sorted(p.parent.name for p in (course / "variants" / args.lab).glob("*/public/scenes"))
        if not built:
            raise VariantError(f"{course / 'variants' / args.lab}: no built variants to publish; run "
                               f"`layerlab variants build {args.lab} --course {course}` first.")
        for sid in built:
            publish_variant(course, args.lab, sid, exchange=exchange)
        print(f"{args.lab}: {len(built)} variants published in {exchange.variants_dir(args.lab)} (each learner's lab loads its own)")
        return 0
    students = [s.strip() for s in args.students.split(",") if s.strip()] if args.students else _gradebook_students(course)
    if not students:
        raise VariantError("no students to build variants for; pass --students ann,ben,...")
    built = build_variants(args.lab, students, course=course, jobs=args.jobs, force=args.force, publish=not args.no_publish)
    new = [b for b in built if b.rebuilt]
    size = max((b.bytes for b in built), default=0) / 1e6
    where = (f"published in {built[0].published.parent}" if built and built[0].published is not None
             else "not published (run `layerlab variants publish`)")
    print(f"{args.lab}: {len(new)} built, {len(built) - len(new)} up to date, for {len(built)} learners "
          f"(largest {size:.1f} MB) in {course / 'variants' / args.lab} (truths stay there); {where}")
    return 0
