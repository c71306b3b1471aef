--- Built-in commands (being written).
return {}
