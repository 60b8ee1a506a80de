"""R2D3 (Paine et al. 2019): R2D2 with expert demonstrations mixed into every learner batch."""
