"""Browser uploads of videos: resumable uploads through the API (the tus 1.0.0 protocol,
``tus.py``) and, with S3 storage, presigned multipart uploads straight to the bucket
(``direct.py``). A finished upload becomes a video through the same code as
``POST /videos`` (size limit, probe, SHA-256 de-duplication, media job) or the bucket
import; an unfinished one is never a video and is removed after ``upload_expire_s``."""
