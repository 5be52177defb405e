"""Digital contracts (数字合约, TC609-6-2025-14): identifiers, lifecycle, and (to come) the document itself."""
