"""The one settings object of the server (environment variables prefixed ``BACKTAL_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.suggest import PRODUCT_RULE, QA_MIN_ACTIVATION, RULES, rule_signals
from model.suggest import REASONS as SUGGEST_REASONS

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Everything the server, the CLI and the worker read from the environment.

    Defaults give the embedded setup: a SQLite file and a media folder under ``./data``.
    """

    model_config = SettingsConfigDict(env_prefix="BACKTAL_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./data/backtal.db",
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host:5432/db",
    )
    media_dir: Path = Field(default=Path("./data/media"), description="Video files live here.")
    # Storage backend (server/storage, docs/storage.md). Empty: the local media folder.
    storage_url: str = Field(
        default="",
        description="'' (the media folder), file:///abs/folder, or s3://bucket/prefix",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 API endpoint (MinIO: http://minio:9000); None: AWS."
    )
    s3_region: str | None = Field(default=None, description="None: AWS_REGION / AWS config.")
    s3_access_key_id: str | None = Field(
        default=None, description="None: the standard AWS variables / credential chain."
    )
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: str = Field(
        default="auto", pattern="^(auto|path|virtual)$", description="MinIO: path."
    )
    s3_part_size_mib: int = Field(default=8, ge=5, le=5120, description="Multipart part size.")
    s3_presign_expires_s: int = Field(default=3600, ge=1, le=7 * 86400)
    s3_max_attempts: int = Field(
        default=5, ge=1, le=20, description="Tries per S3 call (boto3 standard retries)."
    )
    s3_delivery: str = Field(
        default="proxy",
        pattern="^(proxy|redirect)$",
        description="How browsers get videos and sprites from S3: 'proxy' (the API streams "
        "the requested byte ranges; works when only the API can reach the bucket) or "
        "'redirect' (307 to a presigned URL; the browser must reach the S3 endpoint).",
    )
    scratch_dir: Path | None = Field(
        default=None,
        description="Local scratch for workers (one private sub-folder each, emptied at "
        "start) and the API's temporary files with S3 storage; None: <media_dir>/../scratch.",
    )
    max_upload_bytes: int = Field(default=2048 * MiB, gt=0, description="Largest video upload.")
    # Browser uploads (server/uploads, docs/ui.md, docs/storage.md)
    upload_roles: str = Field(
        default="admin,annotator",
        description="Comma-separated roles that may add videos (POST /videos, resumable and "
        "direct uploads); admins always may.",
    )
    upload_dir: Path | None = Field(
        default=None,
        description="Where resumable (tus) uploads keep their received bytes until complete; "
        "None: <scratch root>/uploads. API processes that share uploads must share it.",
    )
    upload_expire_s: float = Field(
        default=86_400.0,
        gt=0,
        description="An unfinished upload without new bytes for this long is removed (tus "
        "files; S3 multipart uploads of direct uploads).",
    )
    upload_chunk_bytes: int = Field(
        default=8 * MiB,
        ge=64 * 1024,
        description="Bytes per request of a browser's resumable upload (behind a proxy with a "
        "body-size limit, e.g. nginx's client_max_body_size, stay below it).",
    )
    s3_upload: str = Field(
        default="api",
        pattern="^(api|direct)$",
        description="How browsers upload with S3 storage: 'api' (resumable uploads through "
        "the API, which puts the file into the bucket) or 'direct' (presigned multipart "
        "upload straight to the bucket; browsers must reach the S3 endpoint, bucket CORS).",
    )
    max_import_bytes: int = Field(default=20 * MiB, gt=0, description="Largest CSV/JSON import.")
    max_import_rows: int = Field(default=200_000, gt=0)
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins.")
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["*"], description="Host header allow-list."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    sqlite_busy_timeout_ms: int = 30_000
    token_cache_s: float = Field(
        default=5.0,
        ge=0,
        description="Seconds a valid token is remembered per process (0: look up every call).",
    )

    # Jobs and workers
    worker_poll_s: float = Field(default=1.0, gt=0, description="Idle worker's polling period.")
    worker_threads: int = Field(
        default=1,
        ge=1,
        description="Torch intra-op threads of a worker (training, prediction). 1 keeps a "
        "2-core machine that also serves the API responsive; a machine that only runs a "
        "worker may give it its cores (docs/research/product-retrain.md: 2 threads train "
        "≈ 1.5× faster on 2 cores).",
    )
    worker_heartbeat_s: float = Field(default=5.0, gt=0, description="Running job heartbeat.")
    job_stale_after_s: float = Field(
        default=60.0, gt=0, description="A running job without heartbeat this long is stale."
    )
    job_max_attempts: int = Field(default=3, ge=1)
    job_trace_file: Path | None = Field(
        default=None, description="If set, workers append 'job_id worker_id' per job run."
    )
    feature_extractor: str = Field(
        default="effnet-lite0+dis-flow", description="Extractor used by feature jobs."
    )
    # Housekeeping (docs/reliability.md)
    checkpoint_keep_last: int = Field(
        default=3,
        ge=0,
        description="Checkpoints kept besides the active version's (newest first); the "
        "other model versions' checkpoint files go after a training publishes.",
    )
    stale_temp_after_s: float = Field(
        default=86_400.0,
        gt=0,
        description="A hidden temporary file unchanged this long is swept even if its "
        "writer cannot be identified (a dead writer's file goes at once).",
    )
    validation_min_videos: int = Field(
        default=5,
        ge=1,
        description="Validation videos with segments a training needs to pick its epoch on "
        "them; with fewer it holds out a fraction of the training videos and says so.",
    )
    proxy_max_height: int = Field(default=480, gt=0)
    thumbnail_every_s: float = Field(default=1.0, gt=0)

    # Guided annotation (docs/guided.md): suggestions and click QA
    suggest_per_video: int = Field(default=5, ge=0, le=50, description="Suggestions per video.")
    suggest_min_spacing_s: float = Field(default=2.0, ge=0, description="Between suggestions.")
    suggest_click_radius_s: float = Field(
        default=1.0, ge=0, description="No suggestion this close to a background click."
    )
    # the defaults are the benchmark's chosen rule (model.suggest.PRODUCT_RULE: coverage, floor
    # 0.01; docs/research/guided.md); the first design's mix is suggest_reasons=
    # low_confidence,branch_disagreement,segment_border,unlabelled_activation with min score 0.2
    suggest_min_score: float = Field(
        default=RULES[PRODUCT_RULE][1], ge=0, description="Weakest suggestion offered."
    )
    suggest_reasons: str = Field(
        default=",".join(rule_signals(PRODUCT_RULE)),
        description="Comma-separated signals a suggestion may come from; the others are not "
        "offered (docs/research/guided.md has what each signal's clicks did on the benchmark).",
    )
    qa_min_score: float = Field(
        default=0.5, description="A predicted segment this confident flags clicks inside it."
    )
    qa_margin_s: float = Field(
        default=0.2, ge=0, description="Clicks this close to a segment's edge are not flagged."
    )
    qa_min_activation: float | None = Field(
        default=QA_MIN_ACTIVATION,
        description="A predicted segment flags a click only where its class's activation "
        "curve at the click is at least this (empty or off: anywhere inside the segment; "
        "docs/research/qa-planted.md, amendment 1, chose 0.25 on held-out videos).",
    )
    # Assignments and review (server/assignments, README "Assignments and review")
    assignment_queue: bool = Field(
        default=False,
        description="Annotators pull work from a queue: N (POST /assignments/next) claims "
        "the next video nobody is assigned to once their own assigned videos are done.",
    )

    @field_validator("suggest_reasons")
    @classmethod
    def _known_reasons(cls, v: str) -> str:
        names = [n.strip() for n in v.split(",") if n.strip()]
        unknown = sorted(set(names) - set(SUGGEST_REASONS))
        if unknown:
            raise ValueError(
                f"unknown suggestion signal {', '.join(unknown)}: "
                f"choose from {', '.join(SUGGEST_REASONS)}"
            )
        if not names:
            raise ValueError(
                "name at least one suggestion signal (BACKTAL_SUGGEST_PER_VIDEO=0 turns "
                "suggestions off)"
            )
        return ",".join(dict.fromkeys(names))

    @field_validator("qa_min_activation", mode="before")
    @classmethod
    def _off(cls, v: object) -> object:
        """``BACKTAL_QA_MIN_ACTIVATION=`` (empty), ``none`` or ``off``: no activation
        condition (today's rule before amendment 1)."""
        if isinstance(v, str) and v.strip().lower() in ("", "none", "off"):
            return None
        return v

    @field_validator("upload_roles")
    @classmethod
    def _known_roles(cls, v: str) -> str:
        from server.models import Role  # here: server.models → server.db → this module

        names = [n.strip() for n in v.split(",") if n.strip()]
        known = [r.value for r in Role]
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise ValueError(
                f"unknown role {', '.join(unknown)} in BACKTAL_UPLOAD_ROLES: "
                f"choose from {', '.join(known)}"
            )
        return ",".join(dict.fromkeys(["admin", *names]))

    @property
    def upload_role_set(self) -> frozenset[str]:
        """Roles that may add videos (admin always)."""
        return frozenset(self.upload_roles.split(","))

    @property
    def upload_root(self) -> Path:
        """Where resumable uploads keep their bytes (``upload_dir`` or the default)."""
        return self.upload_dir or self.scratch_root / "uploads"

    @property
    def suggest_reason_set(self) -> frozenset[str]:
        return frozenset(self.suggest_reasons.split(","))

    @field_validator("media_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @field_validator("scratch_dir", "upload_dir")
    @classmethod
    def _absolute_or_none(cls, v: Path | None) -> Path | None:
        return v.expanduser().resolve() if v is not None else None

    @property
    def scratch_root(self) -> Path:
        """Where workers keep their private scratch folders (``scratch_dir`` or the default)."""
        return self.scratch_dir or self.media_dir.parent / "scratch"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check_storage(self) -> None:
        """Refuse a ``storage_url`` that names no backend (the message says what would)."""
        url = self.storage_url.strip()
        if url and not url.startswith(("file:///", "s3://")):
            raise ValueError(
                f"BACKTAL_STORAGE_URL must be empty, file:///abs/folder or s3://bucket/prefix, "
                f"got {url!r}"
            )

    def ensure_dirs(self) -> None:
        """Create the media folder and, for SQLite, the database's folder."""
        self.check_storage()
        self.media_dir.mkdir(parents=True, exist_ok=True)
        if self.is_sqlite and ":memory:" not in self.database_url:
            path = self.database_url.split("///", 1)[-1]
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
