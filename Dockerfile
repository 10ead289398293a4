# The demo as a container: docker build -t advdemo . && docker run -p 8501:8501 advdemo
# MNIST: mount local IDX files (-v /path/to/mnist:/data/mnist:ro -e ADVDEMO_MNIST_DIR=/data/mnist),
# or let tensorflow_datasets download it into /data/tfds on first use.
# With Ray, for replicas whose jobs run on a Ray cluster (docs/deploy.md, Kubernetes): the same image
# serves the page and runs Ray's head and workers: docker build --build-arg RAY_VERSION=2.60.0 -t advdemo:ray .
FROM python:3.11-slim

ARG RAY_VERSION=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ADVDEMO_HOSTED=1 \
    MALLOC_ARENA_MAX=2 \
    ADVDEMO_CACHE_DIR=/data/models \
    TFDS_DATA_DIR=/data/tfds \
    STREAMLIT_SERVER_PORT=8501 \
    PYTHONPATH=/app

# A small Chinese font: the 简体中文 page's downloadable pictures have Chinese titles (5 MB).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt \
    && if [ -n "$RAY_VERSION" ]; then pip install "ray[default]==$RAY_VERSION"; fi
COPY .streamlit ./.streamlit
COPY advdemo ./advdemo
COPY ui ./ui
COPY pretrained ./pretrained
COPY app.py pyproject.toml README.md ./

# UID 1000: the user Hugging Face Spaces runs a Docker Space as, so /data is writable there too.
RUN useradd --create-home --uid 1000 demo && mkdir -p /data && chown demo /data
USER demo
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD python -c "import os, sys, urllib.request; port = os.environ.get('STREAMLIT_SERVER_PORT', '8501'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/_stcore/health', timeout=4).read() != b'ok')"

CMD ["streamlit", "run", "app.py", "--server.address", "0.0.0.0"]
