CREATE TABLE `customers` (
	`id` int AUTO_INCREMENT NOT NULL,
	`email` varchar(100) NOT NULL,
	`name` varchar(50),
	CONSTRAINT `customers_id` PRIMARY KEY(`id`)
);
