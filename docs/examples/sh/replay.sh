lokihooks replay --projection deliveries
