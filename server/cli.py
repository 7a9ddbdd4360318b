"""``python -m server.cli``: migrate, create-user, seed-demo, serve, reset, …"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from sqlalchemy import select

from server.config import Settings
from server.db import make_engine, make_sessionmaker, session_scope
from server.models import Role, User, Video
from server.storage import open_storage


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from server.migrate import upgrade

    upgrade(settings, args.revision)
    print(f"database at revision {args.revision}", file=sys.stderr)
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from server.errors import ApiError
    from server.migrate import upgrade
    from server.users.service import create_user

    upgrade(settings)  # the first command on a new database (docs/guide/quickstart.md)
    factory = make_sessionmaker(make_engine(settings))
    try:
        with session_scope(factory) as session:
            _, token = create_user(session, args.name, Role(args.role))
    except ApiError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    print(token)  # the token and nothing else on stdout
    return 0


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Generate the demo set: clips, classes, users, ground truth, a demo annotator's work."""
    from server import demo

    out = demo.seed(settings, args.videos, log=lambda line: print(line, file=sys.stderr))
    url = f"http://{settings.host}:{settings.port}"
    print(
        f"demo: {out.new_videos} new videos ({out.videos} in all), classes {demo.CLASSES}, "
        "ground truth imported (evaluation only)"
    )
    print(
        f"demo: '{demo.DEMO_ANNOTATOR}' labelled {out.demo_labelled} videos and made "
        f"{out.demo_clicks} background clicks ({out.demo_clicks_per_min} per minute of video)"
    )
    print(f"admin token:     {out.admin_token}")
    print(f"annotator token: {out.annotator_token}")
    print(f"open {url}/  (API docs: {url}/docs)")
    print(
        "where to look, once the worker has made the features (the video list says ready):\n"
        f"  1. {url}/admin as admin: Retrain (bg-click) trains on the demo annotator's clicks,\n"
        "     the bar and curves fill in; or from a shell:\n"
        f"     curl -X POST {url}/api/v1/training-jobs -H 'Authorization: Bearer "
        f"{out.admin_token}' -H 'Content-Type: application/json' -d '{{\"epochs\": 20}}'\n"
        f"  2. {url}/videos : open a clip: the predicted segments and the activation curve on\n"
        "     its timeline (as admin: the demo annotator's clicks too)\n"
        f"  3. {url}/ as annotator: your videos are unannotated; press B for background, "
        "A then a class number for an action, ? for every key"
    )
    return 0


def cmd_import_features(settings: Settings, args: argparse.Namespace) -> int:
    """Attach a folder of .npy / official .npz features to videos, matched by name."""
    from pathlib import Path

    from tqdm import tqdm

    from model.data import read_npz_video
    from server.errors import ApiError
    from server.features import npz_labels
    from server.features.service import attach_features, check_extractor_name, read_feature_file
    from server.migrate import upgrade
    from server.predictions.service import queue_for_videos
    from server.training.service import import_ground_truth
    from server.users.service import get_or_create_annotator
    from server.videos.service import create_video_record

    folder = Path(args.dir) / args.split if args.split else Path(args.dir)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".npy", ".npz"))
    if not files:
        print(f"error: no .npy or .npz files in {folder}", file=sys.stderr)
        return 1
    labels_as = getattr(args, "labels_as", None)
    class_file = getattr(args, "classes", None) or Path(args.dir) / "classes.json"
    if labels_as and not Path(class_file).is_file():
        print(
            f"error: --labels-as needs the class list of cls_label (--classes; {class_file} "
            "does not exist)",
            file=sys.stderr,
        )
        return 1
    upgrade(settings)
    factory = make_sessionmaker(make_engine(settings))
    storage = open_storage(settings)
    created = 0
    attached_ids: list[int] = []
    imported = npz_labels.Imported()
    try:
        with session_scope(factory) as session:
            if labels_as:
                annotator = get_or_create_annotator(session, labels_as)
                classes = npz_labels.classes_by_index(
                    session, npz_labels.read_class_list(class_file)
                )
            for path in tqdm(files, desc="features", unit="video"):
                parsed = read_feature_file(path.read_bytes(), path.name)
                name = str(parsed.meta.get("vid_name") or path.stem)
                default = "i3d-npz" if path.suffix.lower() == ".npz" else "imported"
                extractor = check_extractor_name(args.extractor or default)
                video = session.scalar(
                    select(Video).where(Video.name == name, Video.deleted_at.is_(None))
                )
                if video is None:
                    meta = parsed.meta
                    if not (args.create_videos and "fps" in meta and "duration" in meta):
                        raise ApiError(
                            f"{path.name}: no video named {name!r} (use --create-videos with "
                            "official .npz files to create video records from their metadata)"
                        )
                    fps, duration = float(meta["fps"]), float(meta["duration"])
                    frames = int(meta.get("frame_num") or round(fps * duration))
                    video = create_video_record(
                        session, name=name, fps=fps, frame_count=frames, duration_s=duration
                    )
                    created += 1
                attach_features(session, storage, video, parsed.array, extractor)
                attached_ids.append(video.id)
                if args.validation:
                    video.is_validation = True
                if labels_as and path.suffix.lower() == ".npz":
                    item = read_npz_video(path)
                    got = npz_labels.import_labels(session, video, item, annotator, classes)
                    imported.labels += got.labels
                    imported.background_clicks += got.background_clicks
                    imported.action_clicks += got.action_clicks
            if args.gt:
                gt = import_ground_truth(session, Path(args.gt).read_bytes())
            # the active model version predicts them: one job for the whole import
            job = queue_for_videos(session, attached_ids, max_attempts=settings.job_max_attempts)
            job_id = job.id if job is not None else None
    except ApiError as exc:
        print(f"error: {exc.detail}; nothing was imported", file=sys.stderr)
        return 1
    print(f"attached features to {len(attached_ids)} videos ({created} created)")
    if args.validation:
        print(f"marked {len(attached_ids)} videos as validation")
    if labels_as:
        print(
            f"{labels_as}: {imported.labels} video labels, {imported.background_clicks} "
            f"background and {imported.action_clicks} action clicks"
        )
    if args.gt:
        print(f"ground truth: {gt.segments} segments on {gt.videos} videos")
    if job_id is not None:
        print(f"predictions of the active model version queued (job {job_id})")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.migrate import upgrade

    upgrade(settings)
    worker: subprocess.Popen[bytes] | None = None

    def _exit(signum: int, _frame: object) -> None:
        # uvicorn shuts down on SIGTERM/SIGINT, then restores this handler and raises the
        # signal again; the default SIGTERM action would end the process before the
        # ``finally`` below, leaving the worker running. Exit through ``finally`` instead.
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        if args.with_worker:
            # --parent-pid: the worker also stops by itself if this process dies (SIGKILL)
            cmd = [sys.executable, "-m", "server.worker", "--parent-pid", str(os.getpid())]
            worker = subprocess.Popen(cmd)
            print(f"worker started (pid {worker.pid})", file=sys.stderr, flush=True)
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if worker is not None:
            stop_worker(worker)
    return 0


def stop_worker(worker: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """SIGTERM: the worker hands its running job back to the queue and exits; SIGKILL if
    it has not within ``timeout_s`` (its job then comes back by the stale-heartbeat rule)."""
    if worker.poll() is None:
        worker.terminate()
    try:
        worker.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    print(f"worker stopped (exit status {worker.returncode})", file=sys.stderr, flush=True)


def cmd_register(settings: Settings, args: argparse.Namespace) -> int:
    """Bucket import: register every new object under a prefix of the storage as a video
    (probe now; proxy, thumbnails and features by the workers). Idempotent."""
    from server.errors import ApiError
    from server.migrate import upgrade
    from server.videos.service import register_prefix

    upgrade(settings)
    storage = open_storage(settings)
    factory = make_sessionmaker(make_engine(settings))
    admin = None
    try:
        with session_scope(factory) as session:
            if args.as_user:
                admin = session.scalar(select(User).where(User.name == args.as_user))
                if admin is None:
                    print(f"error: no user named {args.as_user!r}", file=sys.stderr)
                    return 2
            outcome = register_prefix(
                session,
                storage,
                args.prefix,
                admin,
                settings.media_dir / "tmp",
                max_bytes=settings.max_upload_bytes,
            )
            created = [(v.id, v.name, v.file_path) for v in outcome.created]
            existing = [(v.id, v.name, v.file_path) for v in outcome.existing]
    except ApiError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    for vid, name, key in created:
        print(f"created video {vid} {name!r} from {key}")
    for vid, name, key in existing:
        print(f"exists  video {vid} {name!r} ({key})")
    for key, reason in outcome.failed:
        print(f"failed  {key}: {reason}")
    print(
        f"register: {len(created)} created, {len(existing)} already registered, "
        f"{len(outcome.failed)} failed",
        file=sys.stderr,
    )
    return 0


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    """Remove deleted videos' files and derived rows (docs/reliability.md, Housekeeping)."""
    from server.housekeeping.purge import execute_purge, plan_purge

    if not args.older_than >= 0:
        print("error: --older-than takes a number of days >= 0", file=sys.stderr)
        return 2
    factory = make_sessionmaker(make_engine(settings))
    with session_scope(factory) as session:  # one transaction: the plan and the removal
        storage = open_storage(settings)
        plan = plan_purge(
            session,
            storage,
            args.older_than,
            keep_checkpoints=settings.checkpoint_keep_last,
            stale_temp_after_s=settings.stale_temp_after_s,
        )
        summary = plan.summary(storage)
        lines = plan.lines() if args.dry_run else execute_purge(session, storage, plan)
    for line in lines:
        print(line)
    for line in plan.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    verb = "would remove" if args.dry_run else "removed"
    print(f"purge ({verb}): {summary}", file=sys.stderr)
    return 0


def cmd_reset(settings: Settings, args: argparse.Namespace) -> int:
    """A clean start after the demo (server/housekeeping/reset.py says what goes)."""
    from server.housekeeping.reset import ResetRefused, execute_reset, plan_reset
    from server.migrate import upgrade

    if args.all and not args.yes and not args.dry_run:
        print(
            "error: --all removes every video, class, user, label and model version; "
            "add --yes to do it (or --dry-run to see what would go)",
            file=sys.stderr,
        )
        return 2
    upgrade(settings)
    factory = make_sessionmaker(make_engine(settings))
    storage = open_storage(settings)
    token = None
    try:
        with session_scope(factory) as session:
            plan = plan_reset(session, storage, settings.media_dir, everything=args.all)
            if not args.dry_run:
                token = execute_reset(session, storage, plan)
    except ResetRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verb = "would remove" if args.dry_run else "removed"
    for line in plan.lines():
        print(f"{verb} {line}")
    for line in plan.kept:
        print(f"kept: {line}")
    print(f"reset ({verb}): {plan.summary()}", file=sys.stderr)
    if token is not None:
        print(f"admin token: {token}")
        print("(the tokens make demo printed no longer work)", file=sys.stderr)
    if args.all and not args.dry_run:
        print(
            "no users left: create an admin with "
            "python -m server.cli create-user --name NAME --role admin",
            file=sys.stderr,
        )
    return 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from server.housekeeping.backup import BackupError, backup

    try:
        info = backup(settings, Path(args.out), media_only=args.media_only)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"backup {info.path}: database {info.database}, {info.files} media files "
        f"({info.bytes / 2**20:.1f} MiB)",
        file=sys.stderr,
    )
    for rel in info.missing:
        print(f"warning: the database refers to {rel}, which is not in the media folder")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from server.housekeeping.backup import BackupError, restore

    try:
        result = restore(settings, Path(args.src), force=args.force, media_only=args.media_only)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"restored backup of {result['manifest']['created_at']}: {result['files']} media files"
        + (", database" if not args.media_only else ""),
        file=sys.stderr,
    )
    for path in result["kept"]:
        print(f"the previous data was kept at {path}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("migrate", help="upgrade the database schema")
    p.add_argument("--revision", default="head")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("create-user", help="create a user and print its token")
    p.add_argument("--name", required=True)
    p.add_argument("--role", choices=[r.value for r in Role], default=Role.annotator.value)
    p.set_defaults(func=cmd_create_user)
    p = sub.add_parser("seed-demo", help="generate and register the demo data set")
    p.add_argument("--videos", type=int, default=6)
    p.set_defaults(func=cmd_seed_demo)
    p = sub.add_parser("import-features", help="attach a folder of .npy/.npz features")
    p.add_argument("dir")
    p.add_argument("--split", default=None, help="sub-folder, e.g. val (official layout)")
    p.add_argument("--extractor", default=None, help="name stored with the features")
    p.add_argument("--create-videos", action="store_true", help="create missing videos (npz)")
    p.add_argument(
        "--labels-as",
        default=None,
        metavar="NAME",
        help="also import the .npz files' training labels (cls_label, point_label, "
        "action_point_label) as annotator NAME's video labels and clicks",
    )
    p.add_argument(
        "--classes",
        default=None,
        help="class list naming cls_label's indices (JSON list or ActivityNet GT with "
        "activity_list; default DIR/classes.json); missing classes are created",
    )
    p.add_argument("--validation", action="store_true", help="mark the videos as validation")
    p.add_argument("--gt", default=None, help="ActivityNet ground truth to import for these videos")
    p.set_defaults(func=cmd_import_features)
    p = sub.add_parser(
        "register", help="bucket import: register new objects under a storage prefix as videos"
    )
    p.add_argument(
        "prefix",
        help="s3://bucket/prefix inside BACKTAL_STORAGE_URL, or a key prefix relative to the "
        "storage root ('' = everything)",
    )
    p.add_argument("--as-user", default=None, help="record this user as the creator")
    p.set_defaults(func=cmd_register)
    p = sub.add_parser("serve", help="migrate, then serve the API and the UI")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--with-worker", action="store_true", help="also run one job worker")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("purge", help="remove deleted videos' files and derived data")
    p.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    p.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    p.set_defaults(func=cmd_purge)
    p = sub.add_parser(
        "reset", help="a clean start: remove the demo's data (--demo) or everything (--all)"
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--demo", action="store_true", help="what make demo created (your own data stays)"
    )
    which.add_argument("--all", action="store_true", help="every row and the server's files")
    p.add_argument("--yes", action="store_true", help="confirm --all")
    p.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    p.set_defaults(func=cmd_reset)
    p = sub.add_parser("backup", help="SQLite database + media folder into one tar file")
    p.add_argument("out", help="the tar file to write (must not exist)")
    p.add_argument("--media-only", action="store_true", help="PostgreSQL: the media only")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="put a backup back (server and workers stopped)")
    p.add_argument("src", help="a tar file written by backup")
    p.add_argument("--force", action="store_true", help="replace existing data (kept aside)")
    p.add_argument("--media-only", action="store_true", help="restore the media folder only")
    p.set_defaults(func=cmd_restore)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    if getattr(args, "host", None) is None and args.command == "serve":
        args.host = settings.host
    if getattr(args, "port", None) is None and args.command == "serve":
        args.port = settings.port
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
