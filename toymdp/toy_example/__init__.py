"""The toy example: spurious backgrounds, two agents trained with exact gradients, independently or mutually distilled."""
