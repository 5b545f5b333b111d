"""function-rds: a Crossplane composition function for self-service AWS RDS databases."""
