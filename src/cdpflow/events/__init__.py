"""What a flattened event is: the columns of core_events and the reasons an event is refused."""
