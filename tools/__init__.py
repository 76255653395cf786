"""Tools that are not part of the production image: the local stack, demo, proof, chaos and the audit."""
