print("AMQP bench")
