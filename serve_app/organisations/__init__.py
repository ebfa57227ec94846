"""Customer organisations (tenants): their contracts, their administrators' sign-in, their budget alerts."""
