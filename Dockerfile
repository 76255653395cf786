# One image for every process: `quantum-trader worker`, `quantum-trader ingress`, ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY quantum_trader ./quantum_trader
COPY paper_exchange ./paper_exchange
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
RUN pip install . && useradd --system --uid 10001 qt
USER qt
ENTRYPOINT ["quantum-trader"]
CMD ["worker"]
