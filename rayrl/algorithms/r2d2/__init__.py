"""R2D2 (Kapturowski et al. 2019): Ape-X with an LSTM network trained on replayed sequences with burn-in."""
