print("Postgres bench")
