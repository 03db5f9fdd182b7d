"""Training the bundled network: cached trunk features, targets, losses and the loop."""
