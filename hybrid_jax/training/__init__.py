"""Train states, jitted steps and the hybrid training loop."""
