"""Training: recipes as phases over the mix index, one loop under accelerate."""
