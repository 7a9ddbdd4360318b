"""BackTAL Studio server: FastAPI app, domain packages, worker."""
