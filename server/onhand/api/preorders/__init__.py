"""Preorders and preorder caps in GraphQL: types, mutations, queries, events."""
