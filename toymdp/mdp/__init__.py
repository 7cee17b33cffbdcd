"""The data model (MDP, rendering family, instance) and the engine: exact and batched computation of every quantity, instance files, random instances, Gymnasium MDPs."""
