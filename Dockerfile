# One image for the production processes: `quantum-trader worker`, `ingress`, `codec-server`
# and the operator commands. The local stack, demo, proof, chaos, the paper exchange and the
# benchmarks are tools: they stay out of the image (`quantum-trader dev` here says so).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY quantum_trader ./quantum_trader
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
# constraints.txt (`make constraints`) pins every distribution: the same image whenever it is built.
RUN pip install -c constraints.txt . && useradd --system --uid 10001 qt
USER qt
ENTRYPOINT ["quantum-trader"]
CMD ["worker"]
