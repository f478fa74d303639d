internal import CRabbitMQ
