UPDATE `customers` SET `email` = 'ann.again@example.com' WHERE `name` = 'ann again';
--> statement-breakpoint
ALTER TABLE `customers` ADD CONSTRAINT `customers_email_unique` UNIQUE(`email`);
