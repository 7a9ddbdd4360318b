# BackTAL Studio image: API, worker and CLI (CPU PyTorch; mount a GPU build if you have one).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# The CPU wheel of torch first, so the project's pin does not pull a CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md alembic.ini ./
COPY server ./server
COPY model ./model
COPY annotator_ui ./annotator_ui
COPY migrations ./migrations
RUN pip install .

RUN useradd --create-home --uid 1000 backtal && mkdir -p /data && chown backtal /data
USER backtal
ENV BACKTAL_MEDIA_DIR=/data/media
EXPOSE 8000
CMD ["python", "-m", "server.cli", "serve", "--host", "0.0.0.0", "--port", "8000"]
