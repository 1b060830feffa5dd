"""The BI layer (docs/bi.md): the versioned ``bi_v1_*`` views over the store (migration
0004), the tables they read from the config (``refresh``), their column contract
(``contract``) and the file export (``export``) for Power BI and Tableau."""
